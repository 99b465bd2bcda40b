export function runDemo(_o: { exit?: boolean; dir?: string }): Promise<void> {
  return Promise.resolve();
}
