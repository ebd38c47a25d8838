// The page's access token: in this tab's sessionStorage only (gone when the tab is),
// sent in headers and the WebSocket subprotocol, never in a URL.

const KEY = "gradline.token";

export function storedToken(): string | undefined {
  return sessionStorage.getItem(KEY) ?? undefined;
}

export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
