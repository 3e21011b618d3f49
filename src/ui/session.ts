// Where the signed-in token lives: this tab's sessionStorage, gone when the tab closes or on
// sign-out. Never a cookie (nothing to send cross-site) and never the URL (no history, no logs).
const KEY = 'sandfleet.token';

export const session = {
  token(): string | null {
    return sessionStorage.getItem(KEY);
  },
  save(token: string): void {
    sessionStorage.setItem(KEY, token);
  },
  clear(): void {
    sessionStorage.removeItem(KEY);
  },
};
