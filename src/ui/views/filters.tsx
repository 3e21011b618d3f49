// A list view's filters as selects: choosing one changes the page's fragment, and the view reads
// its data anew from the route.
import { href } from '../route.js';

type Section = 'machines' | 'tasks';

export function Filters<K extends string>({ section, values, choices }: { section: Section; values: Record<K, string | undefined>; choices: Record<K, string[]> }) {
  const names = Object.keys(choices) as K[];
  const choose = (name: K, value: string) => {
    location.hash = href(section, undefined, { ...values, [name]: value || undefined });
  };
  return (
    <form class="filters" role="search" onSubmit={(event) => event.preventDefault()}>
      <fieldset role="group">
        {names.map((name) => (
          <label key={name}>
            {name}
            <select name={name} value={values[name] ?? ''} onChange={(event) => choose(name, event.currentTarget.value)}>
              <option value="">any</option>
              {choices[name].map((choice) => (
                <option key={choice} value={choice}>
                  {choice}
                </option>
              ))}
            </select>
          </label>
        ))}
      </fieldset>
    </form>
  );
}
