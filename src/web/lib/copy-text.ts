/**
 * Puts text on the clipboard: with the Clipboard API where the page may use it
 * (a secure context: https, or localhost), else by selecting it in a textarea
 * and `execCommand('copy')`, which a dashboard served over plain http on a LAN
 * still allows. Resolves false when neither worked.
 */
export async function copyText(text: string): Promise<boolean> {
  if (window.isSecureContext && navigator.clipboard !== undefined) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Refused (no permission, page not focused): try the old way.
    }
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'visually-hidden';
  document.body.append(area);
  area.select();
  try {
    return document.execCommand('copy');
  } catch {
    return false;
  } finally {
    area.remove();
  }
}
