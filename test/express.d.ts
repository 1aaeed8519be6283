/** The part of express 5 the A2A test agents use (the project has no @types/express). */
declare module 'express' {
  import type { IncomingMessage, Server, ServerResponse } from 'node:http';
  export type Request = IncomingMessage;
  export type RequestHandler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
  interface Express {
    use(handler: RequestHandler): Express;
    use(path: string, handler: RequestHandler): Express;
    listen(port: number, host: string): Server;
  }
  function express(): Express;
  export default express;
}
