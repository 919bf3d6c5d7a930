/**
 * @deprecated Kept only so that browser tests written against it on other branches keep
 * working while they merge: import `../../support/launch.js` instead (see tests/README.md),
 * and delete this file once nothing imports it.
 */
export { REPO_ROOT, SWARMGRAD as SWARMGRAD_BIN, startSwarmgrad, type SwarmgradRun } from '../../support/launch.js';
