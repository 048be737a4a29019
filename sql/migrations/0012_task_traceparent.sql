-- Migration 0012: a task may carry the W3C trace context of the request that scheduled it.
--
-- traceparent is the producer's `traceparent` header value (version-traceid-spanid-flags, e.g.
-- 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01). With tracing on (docs/tracing.md), the
-- attempt's span is its child and the delivery carries the context on, so the receiver's trace
-- continues the producer's. It is not checked here: a value the worker cannot read is ignored with a
-- warning and never fails the task (tracing must not be able to stop a delivery). The length check
-- only keeps a mistaken value from bloating the row; a traceparent of version 00 has 55 characters.
--
-- Nullable without a default: adding it rewrites nothing; NOT VALID because every row has none yet.
ALTER TABLE scheduled_tasks ADD COLUMN traceparent text;
ALTER TABLE scheduled_tasks ADD CONSTRAINT scheduled_tasks_traceparent_length_check
  CHECK (length(traceparent) <= 512) NOT VALID;
