import type { ConnectorName, GatewayConnector } from './connector.ts';
import { paytmConnector } from './paytm/connector.ts';
import { payuConnector } from './payu/connector.ts';
import { razorpayConnector } from './razorpay/connector.ts';
import { createSandboxConnector } from './sandbox/connector.ts';

/** Every connector by name; the sandbox draws its outcomes from `random`. */
export function createConnectors(random: () => number): Readonly<Record<ConnectorName, GatewayConnector>> {
  return {
    sandbox: createSandboxConnector(random),
    razorpay: razorpayConnector,
    payu: payuConnector,
    paytm: paytmConnector,
  };
}
