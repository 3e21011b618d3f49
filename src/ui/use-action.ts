// An operator's action (drain, cancel) from a button: asked to confirm, sent, and its outcome
// said in a notice: what the machine or task is now, or the API's refusal.
import { useState } from 'preact/hooks';
import { ApiError } from './api.js';

export interface Notice {
  kind: 'done' | 'refused';
  text: string;
}

export function useAction(after: () => void): { notice: Notice | null; run: (question: string, act: () => Promise<string>) => Promise<void> } {
  const [notice, setNotice] = useState<Notice | null>(null);
  const run = async (question: string, act: () => Promise<string>) => {
    if (!confirm(question)) return;
    try {
      setNotice({ kind: 'done', text: await act() });
    } catch (error) {
      setNotice({ kind: 'refused', text: error instanceof ApiError && error.problem ? error.problem.detail : String(error) });
    }
    after();
  };
  return { notice, run };
}
