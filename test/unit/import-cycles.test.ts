// No module under src/ imports itself through others. Every relative import counts, type-only
// and dynamic ones included: a type shared by two modules belongs in a third that both import.
// The dashboard's browser code (src/ui, .ts and .tsx) is held to the same rule.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sources(full);
    return /\.tsx?$/.test(e.name) ? [full] : [];
  });
}

/** The files under src/ a module imports (static, re-exported, type-only or dynamic). */
function importsOf(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const specifiers: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      specifiers.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])) {
      specifiers.push(node.arguments[0].text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      specifiers.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specifiers
    // A stylesheet the dashboard imports for its bundle is no module of the graph.
    .filter((s) => s.startsWith('.') && !s.endsWith('.css'))
    .map((s) => {
      const base = path.resolve(path.dirname(file), s).replace(/\.js$/, '');
      return [`${base}.ts`, `${base}.tsx`].find((target) => existsSync(target)) ?? path.join(base, 'index.ts');
    });
}

/** Every cycle's members, as strongly connected components of more than one module (or a self-import). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) connect(v);
  return found;
}

describe('the import graph of src/', () => {
  const graph = new Map(sources(SRC).map((file) => [file, importsOf(file)]));

  it('resolves every relative import to a file under src/', () => {
    const unresolved = [...graph].flatMap(([file, targets]) => targets.filter((t) => !graph.has(t)).map((t) => `${path.relative(SRC, file)} -> ${path.relative(SRC, t)}`));
    expect(unresolved).toEqual([]);
  });

  it('has no cycles', () => {
    const named = cycles(graph).map((component) => component.map((f) => path.relative(SRC, f)).join(' <-> '));
    expect(named).toEqual([]);
  });

  it('would find one (the check itself works)', () => {
    expect(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]))).toEqual([['a', 'b', 'c']]);
    expect(cycles(new Map([['a', ['a']]]))).toEqual([['a']]);
    expect(cycles(new Map([['a', ['b']], ['b', []]]))).toEqual([]);
  });
});
