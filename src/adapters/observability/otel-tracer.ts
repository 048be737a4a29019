import {
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Link,
  type Span,
  type Tracer as OtelTracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { SpanStart, TraceHeaders, Tracer, TraceSpan } from '../../application/ports.js';

/** The Tracer port on OpenTelemetry, and how to flush what it still holds. */
export interface OtelTracing {
  readonly tracer: Tracer;
  /** Exports the spans still buffered and stops; spans started afterwards are dropped. */
  shutdown(): Promise<void>;
}

export interface OtelTracingOptions {
  readonly serviceName: string;
  readonly workerId: string;
  /** Where ended spans go: a BatchSpanProcessor over the OTLP exporter in production, tests choose their own. */
  readonly processor: SpanProcessor;
}

const propagator = new W3CTraceContextPropagator();

/**
 * OpenTelemetry behind the port: spans of this provider only (no global registration, so nothing
 * else in the process starts tracing by accident). Sampling follows OTEL_TRACES_SAMPLER, read by the
 * SDK (default: parent-based, always on), so a producer's unsampled traceparent stays unsampled.
 */
export const createOtelTracing = (options: OtelTracingOptions): OtelTracing => {
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName, 'service.instance.id': options.workerId })
    // OTEL_RESOURCE_ATTRIBUTES adds to these (and may set its own service.name).
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [options.processor] });
  const tracer = provider.getTracer('at-worker');
  return { tracer: { enabled: true, startSpan: (name, start) => startSpan(tracer, name, start) }, shutdown: () => provider.shutdown() };
};

/** The production set-up: OTLP over HTTP/protobuf, endpoint and headers from the standard OTEL_EXPORTER_OTLP_* variables. */
export const createOtlpTracing = async (options: Omit<OtelTracingOptions, 'processor'>): Promise<OtelTracing> => {
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  // Batching (OTEL_BSP_* tune it) keeps the export off the task's path: ending a span is a push to a buffer.
  return createOtelTracing({ ...options, processor: new BatchSpanProcessor(new OTLPTraceExporter()) });
};

const startSpan = (tracer: OtelTracer, name: string, start: SpanStart = {}): TraceSpan => {
  const parent = start.parent === undefined ? ROOT_CONTEXT : contextOf(start.parent);
  const links: Link[] = [];
  for (const link of start.links ?? []) {
    const linked = trace.getSpanContext(contextOf(link));
    if (linked !== undefined) links.push({ context: linked });
  }
  const span = tracer.startSpan(
    name,
    {
      kind: start.kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL,
      ...(start.attributes === undefined ? {} : { attributes: start.attributes }),
      ...(links.length === 0 ? {} : { links }),
    },
    parent,
  );
  return portSpan(span);
};

const portSpan = (span: Span): TraceSpan => {
  const headers = (): TraceHeaders => {
    const carrier: Record<string, string> = {};
    propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, defaultTextMapSetter);
    return carrier;
  };
  let traceparent: string | undefined;
  return {
    get traceparent() {
      traceparent ??= headers()['traceparent'] ?? '';
      return traceparent;
    },
    headers,
    end: (end = {}) => {
      if (end.attributes !== undefined) span.setAttributes(end.attributes);
      span.setStatus(end.error === undefined ? { code: SpanStatusCode.OK } : { code: SpanStatusCode.ERROR, message: end.error });
      span.end();
    },
  };
};

/** A context whose remote parent is the traceparent; the root context if the propagator cannot read it. */
const contextOf = (traceparent: string): Context =>
  traceparent === '' ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter);
