// One create and one stream with the official TypeScript SDK, through the gateway.
// Usage: node sdk_roundtrip.mjs INSTALL_DIR PROMPT   (ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY set)
// Prints one JSON line: what each call returned and the gateway's `zdr-*` response headers.
import { createRequire } from 'node:module';
import path from 'node:path';

const [installDir, prompt] = process.argv.slice(2);
const require = createRequire(path.join(installDir, 'package.json'));
const Anthropic = require('@anthropic-ai/sdk').default;

const client = new Anthropic({ maxRetries: 0, timeout: 30_000 });
const request = { model: 'claude-sonnet-5', max_tokens: 64, messages: [{ role: 'user', content: prompt }] };

const zdrHeaders = (response) =>
  Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('zdr-')));

const created = await client.messages.create(request).withResponse();
const { data: stream, response: streamed } = await client.messages.stream(request).withResponse();
let text = '';
stream.on('text', (delta) => { text += delta; });
const final = await stream.finalMessage();

console.log(JSON.stringify({
  create: { text: created.data.content[0].text, stop_reason: created.data.stop_reason,
            headers: zdrHeaders(created.response) },
  stream: { text, stop_reason: final.stop_reason, headers: zdrHeaders(streamed) },
}));
