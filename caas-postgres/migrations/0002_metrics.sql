-- Metrics: raw container samples and their minute, hour and day rollups.
--
-- Nothing here is schema-qualified: the tables go into the first schema of the connection's
-- search_path, like everything else of the store (the store itself creates the daily
-- partitions next to metric_samples, wherever that is).
--
-- Samples are history: no foreign key to services, they outlive the service until retention
-- removes them.

-- Raw samples, range-partitioned by UTC day on `at`. The store creates the partition of a day
-- (metric_samples_pYYYYMMDD, FROM 'YYYY-MM-DD 00:00:00+00' TO the next midnight) before it
-- first inserts a sample of that day, and retention drops whole partitions. There is no
-- DEFAULT partition on purpose: rows in it would have to be moved out before a day's
-- partition could be created, and retention could not drop them cheaply.
CREATE TABLE metric_samples (
    service_id         UUID NOT NULL,
    org_id             UUID NOT NULL,
    at                 TIMESTAMPTZ NOT NULL,
    cpu_percent        DOUBLE PRECISION NOT NULL,
    memory_bytes       BIGINT NOT NULL,
    memory_limit_bytes BIGINT NOT NULL,
    net_rx_bytes       BIGINT NOT NULL,
    net_tx_bytes       BIGINT NOT NULL,
    block_read_bytes   BIGINT NOT NULL,
    block_write_bytes  BIGINT NOT NULL,
    pids               BIGINT NOT NULL,
    CONSTRAINT metric_samples_amounts_check CHECK (
        memory_bytes >= 0 AND memory_limit_bytes >= 0 AND net_rx_bytes >= 0
        AND net_tx_bytes >= 0 AND block_read_bytes >= 0 AND block_write_bytes >= 0 AND pids >= 0
    )
) PARTITION BY RANGE (at);

-- Declared on the parent, so every partition gets its own copy: a service's series
-- (query_metrics) ...
CREATE INDEX metric_samples_by_service ON metric_samples (service_id, at);
-- ... and a time range over all services (minute rollups). Samples arrive roughly in time
-- order, so a BRIN index is a few pages per partition and nearly free to maintain.
CREATE INDEX metric_samples_by_time ON metric_samples USING brin (at);

-- Rollups: one row per (resolution, service, bucket start). Averages are weighted by
-- `samples`, so every level summarises the raw data exactly; counters keep their maximum.
-- List-partitioned by resolution, so rolling up from a level, querying it and applying its
-- retention only touch that level's table.
CREATE TABLE metric_rollups (
    resolution         TEXT NOT NULL,
    service_id         UUID NOT NULL,
    at                 TIMESTAMPTZ NOT NULL,
    samples            BIGINT NOT NULL,
    cpu_avg            DOUBLE PRECISION NOT NULL,
    cpu_min            DOUBLE PRECISION NOT NULL,
    cpu_max            DOUBLE PRECISION NOT NULL,
    memory_avg         DOUBLE PRECISION NOT NULL,
    memory_min         DOUBLE PRECISION NOT NULL,
    memory_max         DOUBLE PRECISION NOT NULL,
    memory_limit_bytes BIGINT NOT NULL,
    net_rx_bytes       BIGINT NOT NULL,
    net_tx_bytes       BIGINT NOT NULL,
    block_read_bytes   BIGINT NOT NULL,
    block_write_bytes  BIGINT NOT NULL,
    pids_avg           DOUBLE PRECISION NOT NULL,
    pids_min           DOUBLE PRECISION NOT NULL,
    pids_max           DOUBLE PRECISION NOT NULL,
    CONSTRAINT metric_rollups_pkey PRIMARY KEY (resolution, service_id, at),
    CONSTRAINT metric_rollups_resolution_check CHECK (resolution IN ('minute', 'hour', 'day')),
    CONSTRAINT metric_rollups_samples_check CHECK (samples > 0),
    CONSTRAINT metric_rollups_amounts_check CHECK (
        memory_limit_bytes >= 0 AND net_rx_bytes >= 0 AND net_tx_bytes >= 0
        AND block_read_bytes >= 0 AND block_write_bytes >= 0
    )
) PARTITION BY LIST (resolution);

CREATE TABLE metric_rollups_minute PARTITION OF metric_rollups FOR VALUES IN ('minute');
CREATE TABLE metric_rollups_hour PARTITION OF metric_rollups FOR VALUES IN ('hour');
CREATE TABLE metric_rollups_day PARTITION OF metric_rollups FOR VALUES IN ('day');

-- Time ranges over all services of one level: the source of the next level's rollup and
-- retention.
CREATE INDEX metric_rollups_by_time ON metric_rollups (at);
