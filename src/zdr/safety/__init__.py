"""Safety classification: classifier results always kept; flagged content under the misuse exception."""
