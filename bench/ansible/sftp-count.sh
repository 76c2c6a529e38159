#!/bin/sh
# Ansible's sftp_executable during the benchmark: counts each file transfer
# (one sftp session on the host) and runs sftp.
printf 'sftp\n' >> "${PBN_ANSIBLE_COUNT:?}"
exec /usr/bin/sftp "$@"
