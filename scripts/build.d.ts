// Types of scripts/build.js for the TypeScript that imports it (the test setup).
export declare const ROOT: string;
export declare const BUNDLE: string;
export declare function bundleIsFresh(): boolean;
export declare function build(): Promise<void>;
