/**
 * OAuth and OpenID Connect error codes in plain words, for the pages a person
 * sees (oidc-provider's `renderError`, the device code page). The library's own
 * descriptions ("client is invalid") are written for developers: people get a
 * title and what to do next, and the code stays visible in small print for
 * whoever they ask for help. JSON answers (token endpoint and the like) keep
 * oidc-provider's codes and descriptions unchanged.
 */
export interface PlainError {
  title: string;
  message: string;
}

const backToApp = 'Go back to the application and try again. If it keeps happening, tell whoever runs the application, with the error code below.';

const words: Record<string, PlainError> = {
  invalid_client: {
    title: 'Unknown application',
    message: 'The application that sent you here is not known here, or it has been turned off. Tell whoever runs the application, with the error code below.',
  },
  invalid_redirect_uri: {
    title: 'The application sent you from the wrong address',
    message:
      'The application asked to send you back to an address it has not registered, so the sign-in was stopped to keep you safe. Tell whoever runs the application, with the error code below.',
  },
  unauthorized_client: {
    title: 'This application may not sign you in this way',
    message: 'The application asked for a kind of sign-in it is not set up for. Tell whoever runs the application, with the error code below.',
  },
  invalid_request: {
    title: 'The sign-in request was not complete',
    message: `The application sent a sign-in request that is missing something or is malformed. ${backToApp}`,
  },
  invalid_request_object: {
    title: 'The sign-in request was not complete',
    message: `The application sent a sign-in request that could not be read. ${backToApp}`,
  },
  invalid_request_uri: {
    title: 'The sign-in request has expired',
    message: 'The sign-in request the application prepared has expired or was already used. Go back to the application and start again.',
  },
  request_not_supported: {
    title: 'The sign-in request is not supported',
    message: `The application sent a kind of sign-in request this server does not support. ${backToApp}`,
  },
  request_uri_not_supported: {
    title: 'The sign-in request is not supported',
    message: `The application sent a kind of sign-in request this server does not support. ${backToApp}`,
  },
  registration_not_supported: {
    title: 'The sign-in request is not supported',
    message: `The application sent a kind of sign-in request this server does not support. ${backToApp}`,
  },
  unsupported_response_type: {
    title: 'The sign-in request is not supported',
    message: `The application asked for a kind of answer this server does not give. ${backToApp}`,
  },
  unsupported_response_mode: {
    title: 'The sign-in request is not supported',
    message: `The application asked to be answered in a way this server does not support. ${backToApp}`,
  },
  invalid_scope: {
    title: 'The application asked for too much',
    message: `The application asked for access it may not have. ${backToApp}`,
  },
  invalid_target: {
    title: 'The application asked for an unknown service',
    message: `The application asked for access to a service that is not known here. ${backToApp}`,
  },
  access_denied: {
    title: 'The sign-in was not allowed',
    message: 'The sign-in was stopped, so the application did not get access. Go back to the application to try again.',
  },
  login_required: {
    title: 'You need to sign in',
    message: 'The application asked to continue without showing a sign-in page, but you are not signed in. Go back to the application and sign in.',
  },
  consent_required: {
    title: 'Your permission is needed',
    message: 'The application asked to continue without asking you, but it needs your permission first. Go back to the application and try again.',
  },
  interaction_required: {
    title: 'Your answer is needed',
    message: 'The application asked to continue without showing you a page, but a page needs your answer first. Go back to the application and try again.',
  },
  invalid_grant: {
    title: 'This sign-in has expired',
    message: 'The sign-in was already used or has expired. Go back to the application and start again.',
  },
  expired_token: {
    title: 'This code has expired',
    message: 'The code has expired. Start again on your device to get a new one.',
  },
  unmet_authentication_requirements: {
    title: 'Another way to sign in is needed',
    message: `The application asked for a way of signing in that is not available here. ${backToApp}`,
  },
  session_not_found: {
    title: 'Your session has ended',
    message: 'Your sign-in session has ended or this page was opened in another browser. Go back to the application and start again.',
  },
  temporarily_unavailable: {
    title: 'Try again in a moment',
    message: 'The sign-in service is busy or briefly unavailable. Wait a moment, then try again.',
  },
  server_error: {
    title: 'Something went wrong on our side',
    message: 'The sign-in could not be completed because of a problem on our side. Please try again later.',
  },
};

export function plainError(code: string): PlainError {
  return (
    words[code] ?? {
      title: 'The sign-in could not be completed',
      message: `The request could not be completed. ${backToApp}`,
    }
  );
}
