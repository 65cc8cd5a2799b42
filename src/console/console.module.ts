import { Module } from '@nestjs/common';
import { ConsoleController } from './console.controller.js';

/** The compliance console's static pages at /console (see README: Compliance console). */
@Module({ controllers: [ConsoleController] })
export class ConsoleModule {}
