import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
    s.settimeout(2)
    sys.exit(0 if s.recv(64) else 1)
except OSError:
    sys.exit(1)
