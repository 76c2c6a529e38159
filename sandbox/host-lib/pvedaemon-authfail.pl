#!/usr/bin/perl
# Runs inside a sandbox host: logs one Proxmox web-UI login failure the way pvedaemon
# does, through syslog(3) with ident "pvedaemon", option "pid", facility daemon,
# priority err:
#   pvedaemon[PID]: authentication failure; rhost=ADDR user=USER msg=MSG
# In a syslog-style host rsyslog writes it to /var/log/syslog; in a journald-style host
# it lands in the journal with SYSLOG_IDENTIFIER=pvedaemon.
# Usage: pvedaemon-authfail.pl RHOST [USER] [MSG]
use strict;
use warnings;
use Sys::Syslog qw(openlog syslog closelog);

my ($rhost, $user, $msg) = @ARGV;
die "usage: $0 RHOST [USER] [MSG]\n" if !defined($rhost) || $rhost eq '';
$user //= 'root@pam';
$msg //= 'Authentication failure';

# The real line comes from a pvedaemon worker; its comm (journal _COMM) is
# "pvedaemon worke" (the kernel keeps 15 characters of "pvedaemon worker").
$0 = 'pvedaemon worker';

openlog('pvedaemon', 'pid', 'daemon');
syslog('err', '%s', "authentication failure; rhost=$rhost user=$user msg=$msg");
closelog();
