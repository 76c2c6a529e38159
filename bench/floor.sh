#!/bin/sh
# The floor: the reference procedure's commands as one script, sent to a host
# in one SSH session (`ssh root@host sh -s < bench/floor.sh`). No checks, no
# idempotence, no rollback: the least work that reaches the same end state as
# `pulumi up` with the default config (syslog-style host, fail2ban running).
# The files are byte-identical to what the program writes (bench/run.ts checks
# them against the program's renderers before every run).
set -e

pvesh set /cluster/firewall/options --enable 0

ufw default deny incoming
ufw default allow outgoing
ufw allow 22/tcp comment 'ssh'
ufw allow 8006/tcp comment 'proxmox web ui'

cat > /etc/fail2ban/filter.d/proxmox.conf <<'EOF'
# managed by proxmox-hardening (pulumi); manual edits are reverted
# fail2ban filter "proxmox"

[Definition]
failregex = ^\s*(?:\S+\s+)?pvedaemon\[\d+\]:\s+authentication failure; rhost=<HOST> user=\S+ msg=.*$
ignoreregex =
journalmatch = SYSLOG_IDENTIFIER=pvedaemon
EOF

cat > /etc/fail2ban/jail.d/proxmox-hardening-defaults.local <<'EOF'
# managed by proxmox-hardening (pulumi); manual edits are reverted
# fail2ban defaults for every jail

[DEFAULT]
bantime = 3600
findtime = 300
maxretry = 3
ignoreip = 127.0.0.1/8 ::1
backend = auto
EOF

cat > /etc/fail2ban/jail.d/proxmox-hardening-jail-sshd.local <<'EOF'
# managed by proxmox-hardening (pulumi); manual edits are reverted
# fail2ban jail "sshd"

[sshd]
enabled = true
filter = sshd[_daemon="sshd(?:-session)?"]
port = ssh
backend = auto
logpath = /var/log/auth.log
EOF

cat > /etc/fail2ban/jail.d/proxmox-hardening-jail-proxmox.local <<'EOF'
# managed by proxmox-hardening (pulumi); manual edits are reverted
# fail2ban jail "proxmox"

[proxmox]
enabled = true
filter = proxmox
port = 8006
protocol = tcp
backend = auto
logpath = /var/log/syslog
EOF

ufw --force enable

# No systemd in the sandbox hosts: fail2ban-client, reload when running, start when not.
if fail2ban-client ping >/dev/null 2>&1; then fail2ban-client reload; else fail2ban-client start; fi
