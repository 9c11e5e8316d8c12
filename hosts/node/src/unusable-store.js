// A lock store the environment names but this host cannot use (etcd, a misspelt
// `SESSION_LOCK_STORE` or `SESSION_LOCK_IDENTITY`): every call fails with the line saying why,
// so the component fails open as it does for a store it cannot reach, in the agent's answer
// where the person sees it and in the decision log, not on stderr alone (the Rust host's
// `AnyStore::Unusable`).

import { StoreError } from './fs-store.js';

/** The `lock-store` functions, each failing with `why`. */
export class UnusableStore {
  constructor(why) {
    this.why = why;
  }

  read() {
    throw new StoreError(this.why);
  }

  compareAndSwap() {
    throw new StoreError(this.why);
  }

  keys() {
    throw new StoreError(this.why);
  }
}
