/**
 * A2A agents for the hand-off tests: real servers written with the official A2A JavaScript SDK
 * (@a2a-js/sdk, express), JSON-RPC and HTTP+JSON bindings, on 127.0.0.1 port 0; and callers that
 * reach them through the gateway with the SDK's client (ClientFactory, both transports). An agent
 * passes on what the gateway sent it (x-aos-delegation, traceparent) on its own calls.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AgentCard, type Message, Role, type Task, TaskState } from '@a2a-js/sdk';
import { ClientFactory, ClientFactoryOptions, DefaultAgentCardResolver, JsonRpcTransportFactory, RestTransportFactory } from '@a2a-js/sdk/client';
import { type AgentExecutor, DefaultRequestHandler, type ExecutionEventBus, InMemoryTaskStore, type RequestContext } from '@a2a-js/sdk/server';
import { agentCardHandler, jsonRpcHandler, restHandler, UserBuilder } from '@a2a-js/sdk/server/express';
import express from 'express';
import OpenAI from 'openai';
import type { Test } from 'tap';

/** What an agent got with a request: the headers the gateway forwarded. */
export interface Incoming {
  headers: IncomingHttpHeaders;
}

/** The headers an agent passes on to the gateway on its own calls: what the gateway gave it. */
export function passOn(incoming: Incoming): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['x-aos-delegation', 'traceparent']) {
    const v = incoming.headers[name];
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}

export type Work = (text: string, incoming: Incoming, stream: { update(text: string): void } | null) => Promise<string>;

export interface A2aAgentServer {
  url: string;
  /** Headers of every request the agent got (its card's reads included). */
  seen: IncomingHttpHeaders[];
  /** The config/agents.yaml `a2a:` entry for it. */
  endpoint: { url: string; rest: string };
}

const text = (m: Message | undefined) => (m?.parts ?? []).map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('');

function agentMessage(contextId: string, taskId: string, value: string): Message {
  return {
    messageId: randomUUID(),
    contextId,
    taskId,
    role: Role.ROLE_AGENT,
    parts: [{ content: { $case: 'text', value }, metadata: undefined, filename: '', mediaType: 'text/plain' }],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  };
}

/**
 * Starts an A2A agent: its card at /.well-known/agent-card.json, JSON-RPC at /a2a/jsonrpc,
 * HTTP+JSON at /a2a/rest. A plain message is answered with a message; a streaming one with a task
 * whose progress comes as status updates (`stream.update`), then the answer as an artifact.
 */
export async function startA2aAgent(t: Test, id: string, work: Work, skills: string[] = ['work']): Promise<A2aAgentServer> {
  const als = new AsyncLocalStorage<Incoming>();
  const seen: IncomingHttpHeaders[] = [];
  const app = express();
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const card: AgentCard = {
    name: id,
    description: `The ${id} agent`,
    supportedInterfaces: [
      { url: `${url}/a2a/jsonrpc`, protocolBinding: 'JSONRPC', protocolVersion: '1.0', tenant: '' },
      { url: `${url}/a2a/rest`, protocolBinding: 'HTTP+JSON', protocolVersion: '1.0', tenant: '' },
      { url: `${url}:grpc`, protocolBinding: 'GRPC', protocolVersion: '1.0', tenant: '' },
    ],
    provider: undefined,
    version: '1.0.0',
    capabilities: { streaming: true, pushNotifications: false, extensions: [], extendedAgentCard: false },
    securitySchemes: {},
    securityRequirements: [],
    defaultInputModes: ['text/plain'],
    defaultOutputModes: ['text/plain'],
    skills: skills.map((s) => ({ id: s, name: s, description: `${id} ${s}`, tags: [], examples: [], inputModes: [], outputModes: [], securityRequirements: [] })),
    signatures: [],
  } as AgentCard;
  const executor: AgentExecutor = {
    async execute(ctx: RequestContext, bus: ExecutionEventBus) {
      const incoming = als.getStore() ?? { headers: {} };
      // Both SDK transports ask for a stream with Accept: text/event-stream.
      const streaming = incoming.headers.accept?.includes('text/event-stream') === true;
      if (!streaming) {
        const answer = await work(text(ctx.userMessage), incoming, null);
        bus.publish({ kind: 'message', data: agentMessage(ctx.contextId, '', answer) });
        bus.finished();
        return;
      }
      const task: Task = {
        id: ctx.taskId,
        contextId: ctx.contextId,
        status: { state: TaskState.TASK_STATE_SUBMITTED, message: undefined, timestamp: new Date().toISOString() },
        artifacts: [],
        history: [ctx.userMessage],
        metadata: undefined,
      } as Task;
      bus.publish({ kind: 'task', data: task });
      const update = (value: string) =>
        bus.publish({
          kind: 'statusUpdate',
          data: {
            taskId: ctx.taskId,
            contextId: ctx.contextId,
            status: { state: TaskState.TASK_STATE_WORKING, message: agentMessage(ctx.contextId, ctx.taskId, value), timestamp: new Date().toISOString() },
            metadata: undefined,
          },
        });
      const answer = await work(text(ctx.userMessage), incoming, { update });
      bus.publish({
        kind: 'artifactUpdate',
        data: {
          taskId: ctx.taskId,
          contextId: ctx.contextId,
          artifact: { artifactId: randomUUID(), name: 'answer', description: '', parts: agentMessage(ctx.contextId, ctx.taskId, answer).parts, metadata: undefined, extensions: [] },
          append: false,
          lastChunk: true,
          metadata: undefined,
        },
      } as never);
      bus.publish({
        kind: 'statusUpdate',
        data: { taskId: ctx.taskId, contextId: ctx.contextId, status: { state: TaskState.TASK_STATE_COMPLETED, message: undefined, timestamp: new Date().toISOString() }, metadata: undefined },
      });
      bus.finished();
    },
    async cancelTask() {},
  };
  const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), executor);
  app.use((req, _res, next) => {
    seen.push(req.headers);
    als.run({ headers: req.headers }, next);
  });
  app.use('/.well-known/agent-card.json', agentCardHandler({ agentCardProvider: async () => card }));
  app.use('/a2a/jsonrpc', jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }));
  app.use('/a2a/rest', restHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }));
  return { url, seen, endpoint: { url: `${url}/a2a/jsonrpc`, rest: `${url}/a2a/rest` } };
}

/** A fetch that sends the agent's token and the headers it passes on (the SDK's own fetch otherwise). */
export function agentFetch(token: string, extra: Record<string, string> = {}): typeof fetch {
  return (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set('authorization', `Bearer ${token}`);
    for (const [k, v] of Object.entries(extra)) headers.set(k, v);
    return fetch(input, { ...init, headers });
  };
}

/** An A2A client for `callee` through the gateway (its card read there), over one binding. */
export async function a2aClient(gateway: string, callee: string, binding: 'jsonrpc' | 'rest', fetchImpl: typeof fetch) {
  const factory = new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
      transports: [new JsonRpcTransportFactory({ fetchImpl }), new RestTransportFactory({ fetchImpl })],
      preferredTransports: [binding === 'rest' ? 'HTTP+JSON' : 'JSONRPC'],
      cardResolver: new DefaultAgentCardResolver({ fetchImpl }),
    }),
  );
  return factory.createFromUrl(`${gateway}/a2a/${callee}/`);
}

/** A user message. */
export function userMessage(value: string): Message {
  return {
    messageId: randomUUID(),
    contextId: '',
    taskId: '',
    role: Role.ROLE_USER,
    parts: [{ content: { $case: 'text', value }, metadata: undefined, filename: '', mediaType: 'text/plain' }],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  };
}

/** The text of an answer (a message, or a task's last artifact). */
export function answerText(result: Message | Task): string {
  if ('role' in result) return text(result);
  const a = result.artifacts.at(-1);
  return (a?.parts ?? []).map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('');
}

/** An OpenAI client through the gateway as the agent, with what it passes on. */
export function openaiAs(gateway: string, token: string, headers: Record<string, string> = {}): OpenAI {
  return new OpenAI({ baseURL: `${gateway}/v1`, apiKey: token, maxRetries: 0, defaultHeaders: headers });
}
