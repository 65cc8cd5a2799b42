import { Module } from '@nestjs/common';
import { ContactsRepository } from './contacts.repository.js';

/** Sinch contacts' channel identities: written by webhooks, read by the send gate. */
@Module({ providers: [ContactsRepository], exports: [ContactsRepository] })
export class ContactsModule {}
