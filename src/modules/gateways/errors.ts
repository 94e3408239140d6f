import { conflict, notFound, unprocessable } from '../../http/errors.ts';

export const gatewayNotFound = () => notFound('Gateway', 'GATEWAY_NOT_FOUND');
export const gatewayNameTaken = (name: string) =>
  conflict('GATEWAY_NAME_TAKEN', `A gateway named "${name}" already exists`);
export const gatewayInUse = () =>
  conflict('GATEWAY_IN_USE', 'This gateway has taken payments: disable it instead of deleting it');
export const connectorNotAllowed = () =>
  unprocessable('CONNECTOR_NOT_ALLOWED', 'The sandbox connector is not allowed here (SANDBOX_GATEWAY=off)');
export const methodsUnsupported = (connector: string, methods: readonly string[]) =>
  unprocessable('METHOD_UNSUPPORTED', `The ${connector} connector does not support ${methods.join(', ')}`);
export const limitsInverted = () =>
  unprocessable('INVALID_LIMITS', 'minAmount must not be more than maxAmount');
export const unknownPreferredGateways = (ids: readonly string[]) =>
  unprocessable('GATEWAY_NOT_AVAILABLE', 'Some gateways are unknown or disabled', { gatewayIds: ids });
export const credentialsIncomplete = (connector: string, missing: readonly string[]) =>
  unprocessable(
    'CREDENTIALS_INCOMPLETE',
    `The ${connector} connector needs credentials ${missing.join(', ')}`,
    {
      missing,
    },
  );
