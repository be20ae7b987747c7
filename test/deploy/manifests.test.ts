// deploy/compose.yml and the Kubernetes manifests (deploy/k8s, applied with deploy/kustomization.yaml) stay correct
// without a Docker engine or a cluster: each file is parsed with `yaml`, checked against a JSON Schema of the fields
// it relies on (test/deploy/schemas, unknown fields refused), and against what the code expects: every CDP_* setting
// exists in cli/config.ts and its value passes cdp's own checks, the backends cdp needs are chosen and point at services
// that exist (with the right ports), references (ConfigMaps, Secrets, volumes, selectors, depends_on) resolve, and the
// ClickHouse cluster configuration matches the pods that carry it.
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Ajv2020 } from "ajv/dist/2020.js"
import { parse, parseAllDocuments } from "yaml"
import { describe, expect, it } from "vitest"
import { clickhouseSettingsNow, kafkaSettingsNow, s3SettingsNow, SETTINGS, settingNow } from "../../cli/config.ts"

const DEPLOY = fileURLToPath(new URL("../../deploy/", import.meta.url))
const ROOT = resolve(DEPLOY, "..")
const ajv = new Ajv2020({ allErrors: true, strict: false })
const schema = (file: string) => ajv.compile(JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "schemas", file), "utf8")))
const validCompose = schema("compose.schema.json")
const validK8s = schema("k8s.schema.json")

const VARIABLES = new Set(Object.values(SETTINGS).map((s) => s.variable))

/** cdp's own checks of a set of settings: each one alone, then the backends they choose together. */
const checkSettings = (env: Record<string, string>) => {
  const saved = { ...process.env }
  for (const k of Object.keys(process.env)) if (k.startsWith("CDP_")) delete process.env[k]
  Object.assign(process.env, env)
  try {
    for (const s of Object.values(SETTINGS)) if (env[s.variable] !== undefined) settingNow(s as never)
    return { clickhouse: clickhouseSettingsNow(), kafka: kafkaSettingsNow(), s3: s3SettingsNow() }
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
    Object.assign(process.env, saved)
  }
}

/** Compose's ${VAR:-default} and ${VAR:?message}: the value a fresh checkout runs with (or a placeholder). */
const interpolated = (value: string) =>
  value.replace(/\$\{(\w+):-([^}]*)\}/g, (_, __, d: string) => d).replace(/\$\{(\w+):\?[^}]*\}/g, "wk_placeholder=acme")

const hostPort = (url: string) => {
  const u = new URL(url.includes("://") ? url : `tcp://${url}`)
  return { host: u.hostname, port: Number(u.port) }
}

const xmlHosts = (xml: string, section: string) =>
  [...(new RegExp(`<${section}>([\\s\\S]*?)</${section}>`).exec(xml)?.[1] ?? "").matchAll(/<host>([^<]+)<\/host>\s*<port>(\d+)<\/port>/g)]
    .map((m) => ({ host: m[1]!, port: Number(m[2]) }))

const shardsOf = (xml: string) =>
  [...xml.matchAll(/<shard>([\s\S]*?)<\/shard>/g)].map((m) => [...m[1]!.matchAll(/<host>([^<]+)<\/host>/g)].map((h) => h[1]!))

// The commands the manifests run must exist in the CLI: `cdp worker`, and `cdp serve` with --edge-only.
const CLI_TEXT = readFileSync(join(ROOT, "cli/main.ts"), "utf8") + readFileSync(join(ROOT, "cli/worker.ts"), "utf8")
const expectCliCommand = (args: ReadonlyArray<string>) => {
  expect(CLI_TEXT).toContain(`.command("${args[0]}")`)
  for (const flag of args.slice(1).filter((a) => a.startsWith("--"))) expect(CLI_TEXT).toContain(`"${flag}`)
}

describe("deploy/compose.yml", () => {
  const compose = parse(readFileSync(join(DEPLOY, "compose.yml"), "utf8"), { merge: true }) as {
    services: Record<string, {
      image?: string; command?: Array<string>; entrypoint?: Array<string>; environment?: Record<string, string>
      depends_on?: Record<string, unknown>; volumes?: Array<string>; deploy?: { replicas?: number }
    }>
    volumes?: Record<string, unknown>
  }
  const services = compose.services
  const cdpServices = Object.entries(services).filter(([, s]) => s.image === "cdp:latest" && s.command !== undefined)

  it("matches the schema of the fields it relies on", () => {
    const ok = validCompose(compose)
    expect(validCompose.errors ?? [], JSON.stringify(validCompose.errors)).toEqual([])
    expect(ok).toBe(true)
  })

  it("runs the collector (serve --edge-only) and at least two workers, as commands the CLI has", () => {
    expect(services["collector"]?.command).toEqual(["serve", "--edge-only"])
    expect(services["worker"]?.command).toEqual(["worker"])
    expect(services["worker"]?.deploy?.replicas).toBeGreaterThanOrEqual(2)
    for (const [, s] of cdpServices) expectCliCommand(s.command!)
  })

  it("sets only settings cdp has, each valid by cdp's own checks, choosing Kafka, ClickHouse servers and S3", () => {
    expect(cdpServices.map(([n]) => n).sort()).toEqual(["collector", "worker"])
    for (const [name, s] of cdpServices) {
      const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolated(v)]))
      for (const k of Object.keys(env)) expect(VARIABLES, `${name}: ${k} is not a setting in cli/config.ts`).toContain(k)
      const chosen = checkSettings(env)
      expect(chosen.kafka, `${name} must run on Kafka`).toBeDefined()
      expect(chosen.clickhouse, `${name} must use the ClickHouse servers`).toBeDefined()
      expect(chosen.s3, `${name} must keep objects in S3`).toBeDefined()
      // Where they point are services of this file, on the ports those services listen on.
      for (const broker of chosen.kafka!.brokers) {
        const { host, port } = hostPort(broker)
        expect(services[host], `${name}: broker ${host}`).toBeDefined()
        expect(services[host]!.environment?.["KAFKA_LISTENERS"]).toContain(`PLAINTEXT://:${port}`)
      }
      const ch = hostPort(chosen.clickhouse!.url)
      expect(services[ch.host], `${name}: ClickHouse ${ch.host}`).toBeDefined()
      expect(ch.port).toBe(8123)
      const s3 = hostPort(chosen.s3!.endpoint!)
      expect(services[s3.host], `${name}: S3 ${s3.host}`).toBeDefined()
      expect(services[s3.host]!.command).toEqual(expect.arrayContaining([`:${s3.port}`]))
      expect(services[ch.host]!.environment?.["CLICKHOUSE_DB"]).toBe(chosen.clickhouse!.database)
      expect(services[ch.host]!.environment?.["CLICKHOUSE_USER"]).toBe(chosen.clickhouse!.username)
    }
  })

  it("resolves every reference: depends_on, named volumes, mounted files", () => {
    const named = new Set(Object.keys(compose.volumes ?? {}))
    for (const [name, s] of Object.entries(services)) {
      for (const dep of Object.keys(s.depends_on ?? {})) expect(services[dep], `${name} depends on ${dep}`).toBeDefined()
      for (const v of s.volumes ?? []) {
        const [source] = v.split(":")
        if (source!.startsWith(".")) expect(existsSync(join(DEPLOY, source!)), `${name} mounts ${source}`).toBe(true)
        else if (!source!.startsWith("/")) expect(named, `${name} uses volume ${source}`).toContain(source)
      }
    }
    // The schema applied is the generated one (test/deploy/cluster-schema.test.ts keeps it current).
    expect(services["clickhouse-schema"]?.volumes).toContain("./clickhouse/cluster-schema.sql:/schema/cluster-schema.sql:ro")
  })

  it("has a ClickHouse node for every replica of the cluster configuration, with its shard, and the Keeper it names", () => {
    const xml = readFileSync(join(DEPLOY, "clickhouse/compose/cluster.xml"), "utf8")
    shardsOf(xml).forEach((hosts, i) => {
      for (const host of hosts) {
        expect(services[host], `cluster.xml names ${host}`).toBeDefined()
        expect(services[host]!.environment?.["CLICKHOUSE_SHARD"]).toBe(String(i + 1))
        expect(services[host]!.environment?.["CLICKHOUSE_REPLICA"]).toBe(host)
        expect(services[host]!.volumes).toContain("./clickhouse/compose/cluster.xml:/etc/clickhouse-server/config.d/cluster.xml:ro")
      }
    })
    expect(shardsOf(xml).length).toBeGreaterThanOrEqual(2)
    for (const { host } of xmlHosts(xml, "zookeeper")) expect(services[host], `keeper ${host}`).toBeDefined()
  })
})

type K8sObject = {
  apiVersion: string; kind: string; metadata: { name: string }
  data?: Record<string, string>; stringData?: Record<string, string>
  spec?: Record<string, unknown>
}
type Container = {
  name: string; image: string; command?: Array<string>; args?: Array<string>
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } } }>
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>
  ports?: Array<{ containerPort: number }>
  volumeMounts?: Array<{ name: string }>
}
type PodSpec = { containers: Array<Container>; volumes?: Array<{ name: string; configMap?: { name: string }; secret?: { secretName: string } }> }

describe("deploy/k8s", () => {
  const kustomization = parse(readFileSync(join(DEPLOY, "kustomization.yaml"), "utf8")) as {
    resources: Array<string>; configMapGenerator: Array<{ name: string; files: Array<string> }>
  }
  const files = readdirSync(join(DEPLOY, "k8s")).filter((f) => f.endsWith(".yaml")).sort()
  const objects: Array<K8sObject> = files.flatMap((f) => parseAllDocuments(readFileSync(join(DEPLOY, "k8s", f), "utf8")).map((d) => {
    if (d.errors.length > 0) throw new Error(`${f}: ${d.errors[0]!.message}`)
    return d.toJS() as K8sObject
  }))
  const named = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)
  const generated = new Set(kustomization.configMapGenerator.map((g) => g.name))
  const workloads = objects.filter((o) => ["StatefulSet", "Deployment"].includes(o.kind))
  const podsOf = (o: K8sObject): PodSpec =>
    o.kind === "Job" ? (o.spec as { template: { spec: PodSpec } }).template.spec : (o.spec as { template: { spec: PodSpec } }).template.spec
  const labelsOf = (o: K8sObject) => (o.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels
  const replicasOf = (name: string) => (named("StatefulSet", name)!.spec as { replicas: number }).replicas

  it("applies every manifest file, and the generated schema exists", () => {
    expect(kustomization.resources.map((r) => r.replace(/^k8s\//, "")).sort()).toEqual(files)
    for (const g of kustomization.configMapGenerator) for (const f of g.files) expect(existsSync(join(DEPLOY, f)), f).toBe(true)
  })

  it("matches the schema of the fields it relies on, object by object", () => {
    for (const o of objects) {
      validK8s(o)
      expect(validK8s.errors ?? [], `${o.kind}/${o.metadata?.name}: ${JSON.stringify(validK8s.errors)}`).toEqual([])
    }
  })

  it("runs Kafka, Keeper, ClickHouse and MinIO as StatefulSets with headless Services, cdp as Deployments", () => {
    for (const name of ["kafka", "keeper", "clickhouse", "minio"]) {
      const sts = named("StatefulSet", name)
      expect(sts, `StatefulSet ${name}`).toBeDefined()
      const headless = named("Service", (sts!.spec as { serviceName: string }).serviceName)
      expect((headless?.spec as { clusterIP?: string } | undefined)?.clusterIP, `${name}'s governing Service`).toBe("None")
    }
    expect((named("Deployment", "cdp-worker")?.spec as { replicas: number }).replicas).toBeGreaterThanOrEqual(2)
    expect(named("Deployment", "cdp-collector")).toBeDefined()
    expect(replicasOf("keeper") % 2, "an odd Keeper quorum").toBe(1)
  })

  it("selects what it means to: selectors match pod labels, Services reach ports the pods open", () => {
    for (const w of workloads) {
      expect(labelsOf(w), w.metadata.name).toMatchObject((w.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels)
    }
    for (const svc of objects.filter((o) => o.kind === "Service")) {
      const spec = svc.spec as { selector: Record<string, string>; ports: Array<{ port: number; targetPort?: number }> }
      const target = workloads.find((w) => Object.entries(spec.selector).every(([k, v]) => labelsOf(w)[k] === v))
      expect(target, `Service ${svc.metadata.name} selects no pods`).toBeDefined()
      const open = podsOf(target!).containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort))
      for (const p of spec.ports) expect(open, `Service ${svc.metadata.name} port ${p.port}`).toContain(p.targetPort ?? p.port)
    }
  })

  it("refers only to ConfigMaps, Secrets, keys and volumes that exist", () => {
    for (const owner of objects.filter((o) => ["StatefulSet", "Deployment", "Job"].includes(o.kind))) {
      const name = owner.metadata.name
      const pod = podsOf(owner)
      const claims = ((owner.spec as { volumeClaimTemplates?: Array<{ metadata: { name: string } }> }).volumeClaimTemplates ?? []).map((t) => t.metadata.name)
      const volumes = new Set((pod.volumes ?? []).map((v) => v.name))
      for (const v of pod.volumes ?? []) {
        if (v.configMap) expect(named("ConfigMap", v.configMap.name) ?? (generated.has(v.configMap.name) || undefined), `${name}: ConfigMap ${v.configMap.name}`).toBeTruthy()
        if (v.secret) expect(named("Secret", v.secret.secretName), `${name}: Secret ${v.secret.secretName}`).toBeDefined()
      }
      for (const c of pod.containers) {
        for (const m of c.volumeMounts ?? []) expect([...volumes, ...claims], `${name}/${c.name} mounts ${m.name}`).toContain(m.name)
        for (const from of c.envFrom ?? []) {
          if (from.configMapRef) expect(named("ConfigMap", from.configMapRef.name), `${name}: ${from.configMapRef.name}`).toBeDefined()
          if (from.secretRef) expect(named("Secret", from.secretRef.name), `${name}: ${from.secretRef.name}`).toBeDefined()
        }
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef
          if (ref) expect(Object.keys(named("Secret", ref.name)?.stringData ?? {}), `${name}: ${ref.name}/${ref.key}`).toContain(ref.key)
        }
      }
    }
  })

  it("gives cdp only settings it has, valid by its own checks, choosing Kafka, ClickHouse and S3 that these manifests run", () => {
    const settings = named("ConfigMap", "cdp-settings")!.data!
    const secrets = named("Secret", "cdp-secrets")!.stringData!
    for (const w of [named("Deployment", "cdp-worker")!, named("Deployment", "cdp-collector")!]) {
      const [container] = podsOf(w).containers
      expect(container!.envFrom).toEqual([{ configMapRef: { name: "cdp-settings" } }, { secretRef: { name: "cdp-secrets" } }])
      const env = { ...settings, ...secrets, ...Object.fromEntries((container!.env ?? []).map((e) => [e.name, e.value ?? ""])) }
      for (const k of Object.keys(env)) expect(VARIABLES, `${w.metadata.name}: ${k} is not a setting in cli/config.ts`).toContain(k)
      const chosen = checkSettings(env)
      expect(chosen.kafka && chosen.clickhouse && chosen.s3, w.metadata.name).toBeTruthy()
      // Brokers are pods of the Kafka StatefulSet, by their stable names, on a port its headless Service serves.
      const kafka = named("StatefulSet", "kafka")!.spec as { serviceName: string; replicas: number }
      const kafkaPorts = (named("Service", kafka.serviceName)!.spec as { ports: Array<{ port: number }> }).ports.map((p) => p.port)
      for (const broker of chosen.kafka!.brokers) {
        const { host, port } = hostPort(broker)
        const m = new RegExp(`^kafka-(\\d+)\\.${kafka.serviceName}$`).exec(host)
        expect(m, `broker ${host}`).not.toBeNull()
        expect(Number(m![1])).toBeLessThan(kafka.replicas)
        expect(kafkaPorts).toContain(port)
      }
      expect(chosen.kafka!.brokers).toHaveLength(kafka.replicas)
      expect(chosen.kafka!.replication).toBeLessThanOrEqual(kafka.replicas)
      for (const url of [chosen.clickhouse!.url, chosen.s3!.endpoint!]) {
        const { host, port } = hostPort(url)
        const ports = (named("Service", host)?.spec as { ports: Array<{ port: number }> } | undefined)?.ports.map((p) => p.port)
        expect(ports, `${url}: no Service ${host}`).toBeDefined()
        expect(ports).toContain(port)
      }
      const command = container!.command!.join(" ")
      const args = /bin\/cdp\.js (.*)$/.exec(command)![1]!.split(" ")
      expect(args[0]).toBe(w.metadata.name === "cdp-worker" ? "worker" : "serve")
      expectCliCommand(args)
      // The shared keyed-hash secret is copied into the data dir cdp uses.
      expect(command).toContain(`/keys/keyed-hash.key ${settings["CDP_DATA_DIR"]}/keyed-hash.key`)
    }
  })

  it("configures ClickHouse and Keeper for exactly the pods they run as", () => {
    const xml = named("ConfigMap", "clickhouse-config")!.data!["cluster.xml"]!
    const shards = shardsOf(xml)
    const replicas = replicasOf("clickhouse")
    expect(shards.flat()).toEqual(Array.from({ length: replicas }, (_, i) => `clickhouse-${i}.clickhouse-headless`))
    // The pod command derives the shard as ordinal / (replicas per shard) + 1.
    const perShard = shards[0]!.length
    const command = podsOf(named("StatefulSet", "clickhouse")!).containers[0]!.command!.join(" ")
    expect(command).toContain(`CLICKHOUSE_SHARD=$(( \${HOSTNAME##*-} / ${perShard} + 1 ))`)
    for (const hosts of shards) expect(hosts).toHaveLength(perShard)
    const keepers = xmlHosts(xml, "zookeeper")
    expect(keepers.map((k) => k.host)).toEqual(Array.from({ length: replicasOf("keeper") }, (_, i) => `keeper-${i}.keeper-headless`))
    const keeperXml = named("ConfigMap", "keeper-config")!.data!["keeper_config.xml"]!
    const raft = [...keeperXml.matchAll(/<id>(\d+)<\/id><hostname>([^<]+)<\/hostname>/g)].map((m) => [Number(m[1]), m[2]])
    expect(raft).toEqual(Array.from({ length: replicasOf("keeper") }, (_, i) => [i + 1, `keeper-${i}.keeper-headless`]))
    const keeperPorts = (named("Service", "keeper-headless")!.spec as { ports: Array<{ port: number }> }).ports.map((p) => p.port)
    for (const k of keepers) expect(keeperPorts).toContain(k.port)
  })
})
