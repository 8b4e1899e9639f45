-- At most one firing alert per organization, rule and subject, also when two evaluators (two
-- processes, or the volume monitor and the alert evaluator) raise it at the same moment.
-- Duplicates an earlier version may have left are resolved first, keeping the oldest.
UPDATE alerts
SET state = 'resolved', resolved_at = since
WHERE state = 'firing'
  AND EXISTS (
      SELECT 1 FROM alerts AS older
      WHERE older.org_id = alerts.org_id
        AND older.rule = alerts.rule
        AND older.subject = alerts.subject
        AND older.state = 'firing'
        AND (older.since, older.id) < (alerts.since, alerts.id)
  );
CREATE UNIQUE INDEX alerts_one_firing ON alerts (org_id, rule, subject) WHERE state = 'firing';
