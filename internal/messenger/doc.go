// Package messenger talks to the Facebook Messenger Send API on behalf of a
// tenant's Page.
//
// It has three parts:
//
//   - Client sends one message (POST {graphAPIURL}/{pageID}/messages), turns
//     Graph API errors into a typed *SendError with an ErrorClass, and keeps
//     the rate-limit usage that Graph reports in its response headers.
//   - Sender feeds many messages through a Client at a bounded rate with
//     several requests in flight, backs off and lowers its rate when Graph
//     throttles, and reports one Result per Job.
//   - Emulator is an in-process Send API on 127.0.0.1 with the same error
//     bodies, a per-Page rate limit, a 24-hour window and a delivery record,
//     for tests and local runs.
//
// Page access tokens and PSIDs are secrets or personal data: no error text
// produced here contains either.
package messenger
