/** The client hung up while its request waited (to be hashed, say): there is nobody left to answer. */
export class ClientGone extends Error {
  constructor(while_: string) {
    super(`the client hung up while ${while_}`);
    this.name = 'ClientGone';
  }
}
