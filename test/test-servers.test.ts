// The test servers themselves (test/helpers/postgres.ts, test/helpers/s3.ts): a throwaway PostgreSQL
// cluster answers queries, and the moto S3 server stores and returns an object through the AWS SDK.
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeIfAvailable } from "./helpers/availability.js";
import { postgresAvailability, startPostgres, type PgCluster } from "./helpers/postgres.js";
import { s3Availability, startS3, type S3TestServer } from "./helpers/s3.js";

describeIfAvailable("throwaway PostgreSQL cluster", postgresAvailability(), () => {
  let cluster: PgCluster;
  beforeAll(async () => {
    cluster = await startPostgres();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("listens on loopback below 32768 and runs queries in its own database", async () => {
    expect(cluster.port).toBeLessThan(32768);
    const url = await cluster.createDatabase();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query("CREATE TABLE t (id int PRIMARY KEY, v text)");
      await client.query("INSERT INTO t VALUES (1, 'one'), (2, 'two')");
      const { rows } = await client.query("SELECT v, current_database() AS db, version() AS version FROM t ORDER BY id");
      expect(rows.map((r) => r.v)).toEqual(["one", "two"]);
      expect(url.endsWith(`/${rows[0].db}`)).toBe(true);
      expect(rows[0].version).toMatch(/^PostgreSQL \d+/);
    } finally {
      await client.end();
    }
  });
});

describeIfAvailable("moto S3 server", s3Availability(), () => {
  let server: S3TestServer;
  beforeAll(async () => {
    server = await startS3();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("stores and returns an object through the AWS SDK", async () => {
    expect(new URL(server.endpoint).port).toMatch(/^\d+$/);
    expect(Number(new URL(server.endpoint).port)).toBeLessThan(32768);
    const s3 = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    await s3.send(new CreateBucketCommand({ Bucket: "servers-test" }));
    await s3.send(new PutObjectCommand({ Bucket: "servers-test", Key: "a/b.txt", Body: "hello s3", ContentType: "text/plain" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: "servers-test", Key: "a/b.txt" }));
    expect(await got.Body!.transformToString()).toBe("hello s3");
    expect(got.ContentType).toBe("text/plain");
    s3.destroy();
  });
});
