"""Python grpcio client against a Courier gRPC server: one unary call, one server-streaming call.
Usage: client.py <stubs dir> <host:port>. Prints one JSON line with what it received."""
import json
import sys

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
import shop_pb2  # noqa: E402
import shop_pb2_grpc  # noqa: E402

with grpc.insecure_channel(sys.argv[2]) as channel:
    stub = shop_pb2_grpc.ShopStub(channel)
    reply = stub.Stock(shop_pb2.StockRequest(sku="ABC-1"), timeout=5, metadata=[("courier-correlation-id", "py-corr")])
    ticks = [t.i for t in stub.Ticks(shop_pb2.TicksRequest(n=3), timeout=5)]
    try:
        stub.Stock(shop_pb2.StockRequest(sku=""), timeout=5)
        invalid = "no error"
    except grpc.RpcError as e:
        invalid = e.code().name
    print(json.dumps({"sku": reply.sku, "qty": reply.qty, "corr": reply.corr, "ticks": ticks, "invalid": invalid}))
