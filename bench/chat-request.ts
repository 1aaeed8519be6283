/** The bench's one chat prompt, as post.lua sends it (~600 bytes): the fixed request of the json and sse scenarios. */
export const CHAT_MESSAGES = [
  { role: 'system', content: 'You are a concise assistant for an internal operations team. Answer in one or two sentences, cite no sources, and never include secrets.' },
  {
    role: 'user',
    content:
      'Summarise the state of the nightly batch jobs: ingestion finished at 02:14, the reconciliation job retried twice and succeeded at 03:05, and the report export is still queued behind the warehouse maintenance window.',
  },
] as const;
