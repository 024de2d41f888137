import socket, sys, threading
def serve(port, handler):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64)
    while True:
        c, _ = s.accept(); threading.Thread(target=handler, args=(c,), daemon=True).start()
def echo(c):
    while True:
        d = c.recv(4096)
        if not d: return
        c.sendall(d)
def banner(c):
    c.sendall(b"SSH-2.0-stand-in\r\n"); c.close()
for port, h in [(8000, echo), (8001, banner), (22, banner)]:
    threading.Thread(target=serve, args=(port, h), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
