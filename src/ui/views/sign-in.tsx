// Sign-in: a token pasted into a password field, checked against the API before it is kept. The
// form is handled here and never submitted, so the token goes nowhere but the Authorization header.
import { useState } from 'preact/hooks';

export function SignIn({ onSignIn, reason }: { onSignIn: (token: string) => Promise<string | null>; reason: string | null }) {
  const [token, setToken] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setProblem(await onSignIn(token.trim()));
    setBusy(false);
  };
  return (
    <main class="container sign-in">
      <article>
        <header>
          <h1>sandfleet</h1>
          <p>Sign in with an API token (create one with <code>sandfleet tokens create --role operator</code>).</p>
        </header>
        {reason ? (
          <p class="notice notice-refused" role="alert">
            {reason}
          </p>
        ) : null}
        <form method="post" onSubmit={(event) => void submit(event)}>
          <label>
            Token
            <input
              type="password"
              name="token"
              autocomplete="off"
              placeholder="sf_…"
              required
              value={token}
              aria-invalid={problem ? true : undefined}
              onInput={(event) => setToken(event.currentTarget.value)}
            />
            {problem ? <small role="alert">{problem}</small> : null}
          </label>
          <button type="submit" aria-busy={busy} disabled={busy}>
            Sign in
          </button>
        </form>
        <footer>
          <small>The token stays in this tab (sessionStorage) until you sign out or close it.</small>
        </footer>
      </article>
    </main>
  );
}
