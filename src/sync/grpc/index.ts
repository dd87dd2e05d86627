/** `courier/grpc`: contracts served and called as gRPC (protobuf over Courier's own HTTP/2), with a generated `.proto`. */
export { GrpcClientTransport, type GrpcClientOptions, grpc, registerContract } from './client.js';
export { type MessageCodec, messageCodec } from './codec.js';
export { FRAME_HEADER_BYTES, FrameReader } from './framing.js';
export { GRPC_TIMEOUT, formatGrpcTimeout, parseGrpcTimeout } from './metadata.js';
export {
  type FieldType,
  type Presence,
  type ProtoField,
  type ProtoMessage,
  type ProtoMethod,
  type ProtoOptions,
  type ProtoService,
  type ScalarType,
  protoMethod,
  protoService,
} from './proto-schema.js';
export { protoFile, renderProto } from './proto-text.js';
export { GrpcServer, type GrpcLimits, type GrpcServeOptions, type GrpcServerOptions, grpcServer } from './server.js';
export { ERROR_TRAILER, GrpcStatus, type GrpcStatusCode, grpcStatusOfCode, statusName } from './status.js';
