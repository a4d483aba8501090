/**
 * A tiny IndexedDB key-value store, shared by every tab of the origin: the session (so that a
 * tab that waited for another's refresh adopts its result) and, in DPoP mode, the key pair.
 * CryptoKey objects are stored as they are: a non-extractable private key stays one.
 */
export class SharedStore {
  private db?: Promise<IDBDatabase>;

  constructor(private readonly name: string) {}

  get<T>(key: string): Promise<T | undefined> {
    return this.run('readonly', (store) => store.get(key)) as Promise<T | undefined>;
  }

  async put(key: string, value: unknown): Promise<void> {
    await this.run('readwrite', (store) => store.put(value, key));
  }

  async delete(key: string): Promise<void> {
    await this.run('readwrite', (store) => store.delete(key));
  }

  close(): void {
    void this.db?.then((db) => db.close());
    this.db = undefined;
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const request = indexedDB.open(this.name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore('kv');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error ?? new Error('IndexedDB refused to open'));
    });
    return this.db;
  }

  private async run(mode: IDBTransactionMode, action: (store: IDBObjectStore) => IDBRequest): Promise<unknown> {
    const db = await this.open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction('kv', mode);
      const request = action(tx.objectStore('kv'));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  }
}
