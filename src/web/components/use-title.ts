import { useEffect } from 'preact/hooks';

/** Sets the document's title while a page shows: "cart — Ferry". */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} — Ferry`;
  }, [title]);
}
