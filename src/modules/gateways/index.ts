export { CircuitBreakers, type CircuitPolicy, DEFAULT_CIRCUIT_POLICY } from './circuit-breaker.ts';
export type { ConnectorName, GatewayConnector } from './connectors/connector.ts';
export { isRetryable } from './connectors/http.ts';
export { createConnectors } from './connectors/index.ts';
export { gatewayRoutes, gatewayWebhookPath } from './routes.ts';
export { feeMinor, type RoutingStrategy } from './routing.ts';
export { createGatewayService, type GatewayService, type LiveGateway } from './service.ts';
