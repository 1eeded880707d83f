# Sourced by the benches: the one trivial target they share, so that every figure is
# taken against the same nginx. One worker pinned to CPU 1 (the generators go on CPU 0)
# that accepts every pending connection per wake-up (multi_accept) from a deep backlog
# (the kernel caps it at net.core.somaxconn), so a fresh-connection storm measures the
# generators, not a short accept queue.
#
#   nginx_start DIR SERVER_DIRECTIVES   # writes DIR/nginx.conf, starts it; pid in DIR.pid

nginx_start() {
  local dir=$1 server=$2
  mkdir -p "$dir/logs"
  cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity 10;
worker_rlimit_nofile 65536;
pid $dir.pid;
error_log $dir/logs/error.log crit;
events { worker_connections 16384; multi_accept on; }
http {
  access_log off;
  keepalive_requests 10000000;
  server {
$server
  }
}
CONF
  nginx -c "$dir/nginx.conf" -p "$dir"
  sleep 0.5
}

# The listen lines of a server that speaks HTTP/2, as the installed nginx spells them:
# `listen ADDR http2;` before 1.25.1, `listen ADDR;` and one `http2 on;` from 1.25.1 on.
# Each argument is one listen line's address and parameters (`ssl` for TLS + ALPN h2).
#
#   nginx_h2_listen "127.0.0.1:18082" "127.0.0.1:18443 ssl"
nginx_h2_listen() {
  local v; v=$(nginx -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
  local l
  if [ "$(printf '%s\n1.25.1\n' "$v" | sort -V | head -1)" = 1.25.1 ]; then
    for l in "$@"; do echo "    listen $l;"; done
    echo "    http2 on;"
  else
    for l in "$@"; do echo "    listen $l http2;"; done
  fi
}
