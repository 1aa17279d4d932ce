// How the page learns the API's address and key: `registro up` prints
// http://127.0.0.1:<port>/#api=<url>&key=<key>. The fragment never reaches a server (not
// even this page's static server), the page keeps the key in sessionStorage for reloads
// of this tab, and erases the fragment from the address bar at once.
export interface Connection {
  apiUrl: string;
  key: string;
}

const STORAGE_KEY = 'registro.connection';

export function takeConnection(): Connection | null {
  const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ''));
  const key = fragment.get('key');
  if (key) {
    const connection = { apiUrl: fragment.get('api') ?? 'http://127.0.0.1:8000', key };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(connection));
    history.replaceState(null, '', window.location.pathname + window.location.search);
    return connection;
  }
  const stored = sessionStorage.getItem(STORAGE_KEY);
  return stored ? (JSON.parse(stored) as Connection) : null;
}
