import os, socket, sys, threading, time
host, stop = sys.argv[1], sys.argv[2]
res = {"echoes": 0, "errors": 0, "probes": 0, "leaks": 0}
def prober():
    while not os.path.exists(stop):
        res["probes"] += 1
        try:
            p = socket.create_connection((host, 8001), timeout=0.3); p.close()
            res["leaks"] += 1
        except OSError:
            pass
        time.sleep(0.1)
t = threading.Thread(target=prober); t.start()
c = socket.create_connection((host, 8000), timeout=5); c.settimeout(5)
n = 0
while not os.path.exists(stop):
    n += 1
    line = ("%d\n" % n).encode()
    try:
        c.sendall(line)
        got = b""
        while not got.endswith(b"\n"):
            d = c.recv(64)
            if not d: raise OSError("closed")
            got += d
        if got == line: res["echoes"] += 1
        else: res["errors"] += 1
    except OSError as e:
        res["errors"] += 1
        print("error:", e, file=sys.stderr, flush=True)
        break
    time.sleep(0.05)
t.join()
print(res["echoes"], res["errors"], res["probes"], res["leaks"], flush=True)
