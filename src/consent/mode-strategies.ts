import { Injectable } from '@nestjs/common';
import { ConsentMode } from './domain/consent-types.js';
import {
  ModeStrategy,
  PrimaryModeStrategy,
  SecondaryModeStrategy,
} from './domain/mode-strategy.js';

/** Picks the injected strategy for an app's mode. */
@Injectable()
export class ModeStrategies {
  private readonly byMode: Record<ConsentMode, ModeStrategy>;

  constructor(primary: PrimaryModeStrategy, secondary: SecondaryModeStrategy) {
    this.byMode = { [ConsentMode.PRIMARY]: primary, [ConsentMode.SECONDARY]: secondary };
  }

  forMode(mode: ConsentMode): ModeStrategy {
    return this.byMode[mode];
  }
}
