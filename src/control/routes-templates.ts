/**
 * People's API: templates. A change is a new version: proposed (a draft, by an admin), approved by
 * another person (it becomes active), and an earlier approved version can be re-activated.
 */
import { parse } from 'yaml';
import { unifiedDiff } from './diff.js';
import { badRequest, ControlHttpError, notFound } from './errors.js';
import { field } from './http.js';
import { type PeopleApiDeps, type Route, reasonOf } from './routes.js';
import type { TemplateVersion } from './store.js';
import { checkTemplate, TEMPLATE_NAME, templateYaml } from './templates.js';

const summary = ({ template: _t, yaml: _y, ...rest }: TemplateVersion) => rest;

function nameOf(name: string): string {
  if (!TEMPLATE_NAME.test(name) || name.length > 200) throw badRequest('template name: letters, digits, . _ - (no @: it marks pinned versions in snapshots)');
  return name;
}

/** The body of a proposal: the template as an object, or as YAML text. */
function proposedBody(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return parse(value);
  } catch (err) {
    throw new ControlHttpError('control_invalid', `template: not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
}

// Longer than most functions: one table of routes, each a few lines.
export function templateRoutes({ store }: PeopleApiDeps): Route[] {
  const version = async (name: string, v: number) => {
    const found = await store.templateVersion(name, v);
    if (found === null) throw notFound(`template ${name} has no version ${v}`);
    return found;
  };
  const action = (actor: string, name: string, target: string, reason: string, detail?: Record<string, unknown>) => ({ actor, action: name, target, reason, detail });

  return [
    {
      method: 'GET',
      path: /^\/api\/templates$/,
      role: 'viewer',
      async handle() {
        const byName = new Map<string, TemplateVersion[]>();
        for (const v of await store.templates()) byName.set(v.name, [...(byName.get(v.name) ?? []), v]);
        return {
          body: {
            templates: [...byName].map(([name, versions]) => ({
              name,
              active: versions.find((v) => v.status === 'active')?.version ?? null,
              latest: versions[versions.length - 1].version,
              versions: versions.map(summary),
            })),
          },
        };
      },
    },
    {
      method: 'GET',
      path: /^\/api\/templates\/([^/]+)\/versions\/(\d+)$/,
      role: 'viewer',
      handle: async ({ params: [name, v] }) => ({ body: await version(name, Number(v)) }),
    },
    {
      method: 'GET',
      path: /^\/api\/templates\/([^/]+)\/diff$/,
      role: 'viewer',
      async handle({ params: [name], query }) {
        const all = (await store.templates()).filter((v) => v.name === name);
        if (all.length === 0) throw notFound(`no template ${name}`);
        const from = query.has('from') ? field.int(query.get('from'), 'from', 1) : (all.find((v) => v.status === 'active')?.version ?? all[0].version);
        const to = query.has('to') ? field.int(query.get('to'), 'to', 1) : all[all.length - 1].version;
        const [a, b] = [await version(name, from), await version(name, to)];
        return { body: { name, from, to, diff: unifiedDiff(a.yaml, b.yaml, `${name}@${from}`, `${name}@${to}`) } };
      },
    },
    {
      method: 'POST',
      path: /^\/api\/templates\/([^/]+)\/versions$/,
      role: 'admin',
      async handle({ person, params: [name], body }) {
        const b = await body();
        const reason = reasonOf(b);
        if (b.template === undefined) throw badRequest('template: the template (an object or YAML text), as in agents.yaml');
        nameOf(name);
        const latest = (await store.templates()).filter((v) => v.name === name).length;
        // The number is checked again inside the store's transaction (a concurrent proposal fails there).
        const template = checkTemplate(proposedBody(b.template), latest + 1);
        const draft = await store.propose(name, template, templateYaml(template), action(person.actor, 'template.propose', `${name}@${template.version}`, reason));
        return { status: 201, body: draft };
      },
    },
    {
      method: 'POST',
      path: /^\/api\/templates\/([^/]+)\/versions\/(\d+)\/approve$/,
      role: 'approver',
      async handle({ person, params: [name, v], body }) {
        return { body: await store.approve(name, Number(v), action(person.actor, 'template.approve', `${name}@${v}`, reasonOf(await body()))) };
      },
    },
    {
      method: 'POST',
      path: /^\/api\/templates\/([^/]+)\/rollback$/,
      role: 'admin',
      async handle({ person, params: [name], body }) {
        const b = await body();
        const v = field.int(b.version, 'version', 1);
        return { body: await store.rollback(name, v, action(person.actor, 'template.rollback', `${name}@${v}`, reasonOf(b))) };
      },
    },
  ];
}
