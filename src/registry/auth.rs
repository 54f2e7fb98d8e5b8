//! `WWW-Authenticate` challenges (Basic and Bearer), bearer tokens from the realm (anonymous
//! or with credentials, GET with basic auth, else the OAuth2 POST form), cached by scope.
