import type { Server } from "node:http";

export declare const defaultAllow: string[];
export declare function startStaticServer(options?: {
  root?: string;
  allow?: string[];
  pages?: Record<string, string>;
  port?: number;
  host?: string;
}): Promise<{ server: Server; url: string }>;
