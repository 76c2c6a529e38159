#!/bin/sh
# Ansible's ssh_executable during the benchmark: counts each invocation (one
# remote command each; `-O` control requests are not commands) and runs ssh.
case " $* " in
  *" -O "*) ;;
  *) printf 'ssh\n' >> "${PBN_ANSIBLE_COUNT:?}" ;;
esac
exec /usr/bin/ssh "$@"
