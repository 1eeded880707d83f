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
