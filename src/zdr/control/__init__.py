"""The control plane: arrangements lifecycle, holds, deletion, audit, admin API."""
