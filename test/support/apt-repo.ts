import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { addClient, assertSandboxAddress, clientExec, hostExec, SandboxClient, SandboxHost, SANDBOX_DIR } from "../../sandbox";
import { shellQuote } from "../../providers/ssh/quote";
import { run } from "./host-state";

// A stand-in for the package repositories a Proxmox VE node without a subscription sees: Debian's
// archive (deb.debian.org, signed Release files, a Packages index per suite) and Proxmox's
// enterprise repository, which answers 401 Unauthorized to a node without a subscription key.
// One HTTP server in a sandbox client namespace serves both; each node resolves both names to it
// through /etc/hosts, so its apt sources stay as Debian wrote them. Differences from the real
// ones: plain HTTP on port 80 (the enterprise repository is HTTPS), and our own signing key,
// which the nodes trust in /etc/apt/trusted.gpg.d.

const SERVER = String.raw`
import http.server, os, sys
root, address = sys.argv[1], sys.argv[2]
class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=root, **kwargs)
    def do_GET(self):
        # As enterprise.proxmox.com answers a node without a subscription key.
        if self.headers.get("Host", "").split(":")[0] == "enterprise.proxmox.com":
            self.send_response(401, "Unauthorized")
            self.send_header("WWW-Authenticate", 'Basic realm="Proxmox Enterprise Repository"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()
    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.headers.get("Host", "-"), fmt % args))
http.server.ThreadingHTTPServer((address, 80), Handler).serve_forever()
`;

/** What the enterprise repository looks like on a node of each release (PVE 8: one-line .list; PVE 9: deb822 .sources). */
export function enterpriseSource(release: string): { file: string; content: string } {
  return release === "bookworm"
    ? { file: "/etc/apt/sources.list.d/pve-enterprise.list", content: "deb http://enterprise.proxmox.com/debian/pve bookworm pve-enterprise\n" }
    : {
        file: "/etc/apt/sources.list.d/pve-enterprise.sources",
        content: `Types: deb\nURIs: http://enterprise.proxmox.com/debian/pve\nSuites: ${release}\nComponents: pve-enterprise\n`,
      };
}

const sh = (command: string, env: NodeJS.ProcessEnv = {}) => execFileSync("bash", ["-c", command], { encoding: "utf8", env: { ...process.env, ...env } });

export class AptRepoStandIn {
  private constructor(
    readonly client: SandboxClient,
    private readonly root: string,
    private readonly gnupg: string,
  ) {}

  /** Starts the server (a client namespace of its own) with empty suites; `publish` adds packages. */
  static async start(releases: readonly string[]): Promise<AptRepoStandIn> {
    const dir = path.resolve(SANDBOX_DIR, "apt-repo");
    fs.rmSync(dir, { recursive: true, force: true });
    const root = path.join(dir, "www");
    const gnupg = path.join(dir, "gnupg");
    fs.mkdirSync(root, { recursive: true });
    fs.mkdirSync(gnupg, { mode: 0o700 });
    fs.writeFileSync(path.join(dir, "server.py"), SERVER);
    sh("gpg --batch --quiet --passphrase '' --quick-gen-key 'proxmox-hardening sandbox archive' ed25519 sign never", { GNUPGHOME: gnupg });
    fs.writeFileSync(path.join(dir, "archive.gpg"), execFileSync("gpg", ["--export"], { env: { ...process.env, GNUPGHOME: gnupg } }));
    const client = await addClient("aptrepo");
    const repo = new AptRepoStandIn(client, root, gnupg);
    for (const release of releases) repo.publish(release, []);
    await assertSandboxAddress(client.address);
    const started = await clientExec(client, `setsid -f python3 ${shellQuote(path.join(dir, "server.py"))} ${shellQuote(root)} ${client.address} > ${shellQuote(path.join(dir, "server.log"))} 2>&1 < /dev/null`);
    if (started.code !== 0) throw new Error(`apt repository stand-in did not start: ${started.stderr}`);
    return repo;
  }

  /** The signing key's public part, for a node's /etc/apt/trusted.gpg.d. */
  get key(): Buffer {
    return fs.readFileSync(path.join(path.dirname(this.gnupg), "archive.gpg"));
  }

  /** Publishes `debs` (file paths) as the release's main suite; -updates and -security stay empty, as on a fresh release. */
  publish(release: string, debs: readonly string[]): void {
    const pool = path.join(this.root, "debian", "pool", release);
    fs.rmSync(pool, { recursive: true, force: true });
    fs.mkdirSync(pool, { recursive: true });
    for (const deb of debs) fs.copyFileSync(deb, path.join(pool, path.basename(deb)));
    const packages = debs.length > 0 ? sh(`cd ${shellQuote(path.join(this.root, "debian"))} && dpkg-scanpackages --multiversion ${shellQuote(`pool/${release}`)} /dev/null 2>/dev/null`) : "";
    this.suite("debian", release, packages);
    this.suite("debian", `${release}-updates`, "");
    this.suite("debian-security", `${release}-security`, "");
  }

  private suite(archive: string, suite: string, packages: string): void {
    const dists = path.join(this.root, archive, "dists", suite);
    fs.mkdirSync(path.join(dists, "main", "binary-amd64"), { recursive: true });
    fs.writeFileSync(path.join(dists, "main", "binary-amd64", "Packages"), packages);
    const digest = createHash("sha256").update(packages).digest("hex");
    const release = [
      "Origin: Debian",
      "Label: Debian",
      `Suite: ${suite}`,
      `Codename: ${suite}`,
      `Date: ${new Date().toUTCString().replace("GMT", "UTC")}`,
      "Architectures: amd64",
      "Components: main",
      "SHA256:",
      ` ${digest} ${Buffer.byteLength(packages)} main/binary-amd64/Packages`,
      "",
    ].join("\n");
    fs.writeFileSync(path.join(dists, "Release"), release);
    fs.rmSync(path.join(dists, "InRelease"), { force: true });
    sh(`gpg --batch --quiet --clearsign -o ${shellQuote(path.join(dists, "InRelease"))} ${shellQuote(path.join(dists, "Release"))}`, { GNUPGHOME: this.gnupg });
  }

  /** Points a node at the stand-in: both names to its address, its key trusted, the enterprise repository enabled, no package lists yet. */
  async configure(node: SandboxHost & { release?: string }): Promise<void> {
    const enterprise = enterpriseSource(node.release ?? "bookworm");
    await run(node, `printf '%s deb.debian.org enterprise.proxmox.com\\n' ${this.client.address} >> /etc/hosts`);
    await run(node, `printf '%s' ${shellQuote(this.key.toString("base64"))} | base64 -d > /etc/apt/trusted.gpg.d/proxmox-hardening-sandbox.gpg`);
    await run(node, `printf '%s' ${shellQuote(enterprise.content)} > ${enterprise.file}`);
    await run(node, "rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/apt/lists/partial");
  }

  /** Stops the signing key's agent (the server goes with the sandbox's namespaces at `down`). */
  stop(): void {
    try {
      sh("gpgconf --kill all", { GNUPGHOME: this.gnupg });
    } catch {
      // No agent was started.
    }
  }
}

/**
 * Builds a .deb of a package as installed on the node (its files, control fields and maintainer
 * scripts, as dpkg-repack would), into `dir` on this machine: what Debian's archive offers for
 * that node's release, without a download.
 */
export async function repackInstalled(node: SandboxHost, pkg: string, dir: string): Promise<string> {
  const script = [
    "set -eu",
    `p=${shellQuote(pkg)}`,
    'd=$(mktemp -d); trap \'rm -rf "$d" "$d.deb"\' EXIT',
    'mkdir "$d/DEBIAN"',
    // Directories, and usrmerge's /lib -> usr/lib links, come with the files' paths.
    'dpkg-query -L "$p" | while IFS= read -r f; do if [ ! -d "$f" ] && { [ -L "$f" ] || [ -f "$f" ]; }; then mkdir -p "$d$(dirname "$f")"; cp -a "$f" "$d$f"; fi; done',
    "dpkg-query -s \"$p\" | grep -v '^Status:' | sed '/^Conffiles:/,/^[^ ]/{/^Conffiles:/d;/^ /d}' > \"$d/DEBIAN/control\"",
    // Conffiles as installed (unchanged on a fresh node), obsolete ones left out.
    "dpkg-query -W -f='${Conffiles}\\n' \"$p\" | awk 'NF >= 2 && $3 != \"obsolete\" {print $1}' > \"$d/DEBIAN/conffiles\"",
    '[ -s "$d/DEBIAN/conffiles" ] || rm "$d/DEBIAN/conffiles"',
    'for s in preinst postinst prerm postrm; do if [ -f "/var/lib/dpkg/info/$p.$s" ]; then install -m 755 "/var/lib/dpkg/info/$p.$s" "$d/DEBIAN/$s"; fi; done',
    'dpkg-deb --root-owner-group -Zxz -b "$d" "$d.deb" > /dev/null',
    'base64 -w0 "$d.deb"',
  ].join("\n");
  const result = await hostExec(node, script, { timeoutMs: 120_000 });
  if (result.code !== 0) throw new Error(`${node.name}: repacking ${pkg} failed: ${result.stderr}`);
  const file = path.join(dir, `${pkg}_${node.name}.deb`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, Buffer.from(result.stdout.trim(), "base64"));
  return file;
}
