import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createRegistroClient } from '../src/client';
import { RegistroProvider } from '../src/react';
import { App } from './App';
import { takeConnection } from './connection';
import './styles.css';

const connection = takeConnection();
const root = createRoot(document.getElementById('root')!);

if (!connection) {
  root.render(
    <main className="page">
      <h1>Registro</h1>
      <p role="alert">
        Sem chave de acesso. Abra o endereço completo que <code>registro up</code> imprime
        (ele termina em <code>#api=…&amp;key=…</code>).
      </p>
    </main>,
  );
} else {
  const client = createRegistroClient({
    baseUrl: connection.apiUrl,
    headers: () => ({ Authorization: `Bearer ${connection.key}` }),
  });
  root.render(
    <StrictMode>
      <RegistroProvider client={client}>
        <App />
      </RegistroProvider>
    </StrictMode>,
  );
}
