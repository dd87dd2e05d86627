/** `courier/http`: contracts served as REST on fastify, called through an undici pool. */
export { HttpClientTransport, type HttpClientOptions, http } from './client.js';
export { HEADER } from './headers.js';
export { type OpenApiDocument, type OpenApiInfo, openApiDocument } from './openapi.js';
export { PROBLEM_CONTENT_TYPE } from './problem.js';
export { type HttpMethod, type HttpRoute, httpRoute } from './routes.js';
export { HttpServer, type HttpLimits, type HttpServeOptions, type HttpServerOptions, httpServer } from './server.js';
