import os, struct, msgpack, websocket

def f32(values):            # float list -> bin of little-endian float32
    return struct.pack("<%df" % len(values), *values)

def floats(b):              # bin -> float list
    return list(struct.unpack("<%df" % (len(b) // 4), b))

url = os.environ.get("GRADLINE_URL", "ws://127.0.0.1:8080/")
ws = websocket.create_connection(url)  # header=["Authorization: Bearer TOKEN"]
def call(msg):              # one request, its reply (this client sends one at a time)
    ws.send_binary(msgpack.packb(msg, use_bin_type=True))
    while True:
        reply = msgpack.unpackb(ws.recv(), raw=False)
        if reply.get("seq") == msg["seq"]:
            return reply    # an error reply too: check reply["type"]
        if reply.get("type") == "error":   # no seq: the server could not read a frame of ours
            raise RuntimeError(reply["code"] + ": " + reply["message"])
        # anything else without our seq is a push (update, drift, deleted)

print(call({"type": "hello", "seq": 1, "protocol": 1}))
call({"type": "create", "seq": 2, "model": "line-1",
      "config": {"inputs": 3, "outputs": 2, "optimizer": {"type": "sgd", "lr": 0.01}, "standardize": False}})
ack = call({"type": "train", "seq": 3, "model": "line-1",
            "x": f32([1, 2, 3, 4, 5, 6]), "y": f32([0.5, -1, 2, 0.25])})
pred = call({"type": "predict", "seq": 4, "model": "line-1", "x": f32([1, 0, -1])})
print(ack["loss"], ack["step"], floats(pred["y"]))
